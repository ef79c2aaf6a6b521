"""Everything that writes events: the partner HTTP gateway, the publisher, the simulator."""
