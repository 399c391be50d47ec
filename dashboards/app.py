"""ecrm management dashboard: one entry file, pages in ``app_pages/``.

Run with ``ecrm dashboard`` (or ``streamlit run dashboards/app.py``). It reads the published, read-only
copy of the warehouse (``ECRM_PUBLISHED``), so a running pipeline never blocks it. The global filters
(``filters.py``) are drawn here, in the sidebar, so they keep their values from page to page.
"""

import filters
import streamlit as st

st.set_page_config(page_title="ecrm", page_icon=":bar_chart:", layout="wide")

# Pages in the order of the seven Ps, then the customer tools and the data checks.
PAGES = [
    ("app_pages/overview.py", "Overview"),
    ("app_pages/profiling.py", "Profiling"),
    ("app_pages/persistency.py", "Persistency"),
    ("app_pages/profitability.py", "Profitability"),
    ("app_pages/performance.py", "Performance"),
    ("app_pages/prospecting.py", "Prospecting"),
    ("app_pages/product.py", "Product"),
    ("app_pages/promotion.py", "Promotion"),
    ("app_pages/value_churn.py", "Value & churn"),
    ("app_pages/customer_lookup.py", "Customer lookup"),
    ("app_pages/audiences.py", "Audiences"),
    ("app_pages/data_quality.py", "Data quality"),
]

pages = st.navigation([st.Page(path, title=title, default=i == 0) for i, (path, title) in enumerate(PAGES)])
filters.sidebar()
pages.run()
