"""Campaigns: conversion of the targeted against their random control group, uplift and return."""

import plotly.express as px
import queries
import streamlit as st

st.title("Campaigns")
queries.notice_missing_sources("marketing/campaigns", "marketing/sends", fills="campaign effectiveness")
if queries.require("marts.promotion__campaign_effectiveness"):
    eff = queries.campaign_effectiveness()
    st.dataframe(eff, hide_index=True, width="stretch")
    if not eff.empty and "uplift" in eff.columns:
        st.plotly_chart(
            px.bar(eff, x="campaign_id", y="uplift", color="channel", title="Uplift vs control"),
            width="stretch",
        )
