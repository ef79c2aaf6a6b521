"""The read side: the read API (FastAPI), the BI views of the `dashboard` schema and the web
dashboard page, all over the projectors' read models. `create_app` is in `app.py`;
`create_dashboard_views` in `dashboard_sql.py`; see README.md here for the decisions.
"""
