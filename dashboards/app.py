"""ecrm management dashboard: one entry file, pages in ``app_pages/``.

Run with ``ecrm dashboard`` (or ``streamlit run dashboards/app.py``). It reads the published, read-only
copy of the warehouse (``ECRM_PUBLISHED``), so a running pipeline never blocks it.
"""

import streamlit as st

st.set_page_config(page_title="ecrm", page_icon=":bar_chart:", layout="wide")

pages = st.navigation(
    [
        st.Page("app_pages/overview.py", title="Overview", default=True),
        st.Page("app_pages/customers.py", title="Customers"),
        st.Page("app_pages/models.py", title="Value & churn"),
        st.Page("app_pages/baskets.py", title="Baskets & bundles"),
        st.Page("app_pages/campaigns.py", title="Campaigns"),
        st.Page("app_pages/audiences.py", title="Audiences"),
        st.Page("app_pages/data_quality.py", title="Data quality"),
    ]
)
pages.run()
