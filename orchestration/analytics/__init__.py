"""Plain analytics functions: DataFrames in, DataFrames out. No Dagster, Streamlit or paths."""
