{#
    Marketing channel of a web session from its UTM tags, in the vocabulary of the shop's
    acquisition_channel (plus sms and other), so sessions and new customers can be compared per channel.
    A session without any tag is direct traffic.
#}
{% macro traffic_channel(utm_source, utm_medium) -%}
    case
        when {{ utm_medium }} is null and {{ utm_source }} is null then 'direct'
        when {{ utm_medium }} in ('organic', 'seo') then 'organic_search'
        when {{ utm_medium }} in ('cpc', 'ppc', 'paid_search', 'paidsearch', 'sem') then 'paid_search'
        when {{ utm_medium }} in ('social', 'paid_social', 'social_paid', 'social-media') then 'social'
        when {{ utm_medium }} in ('email', 'e-mail', 'newsletter') then 'email'
        when {{ utm_medium }} = 'sms' then 'sms'
        when {{ utm_medium }} in ('affiliate', 'partner') then 'affiliate'
        when {{ utm_medium }} = 'referral' then 'referral'
        when {{ utm_medium }} in ('display', 'banner', 'cpm') then 'display'
        else 'other'
    end
{%- endmacro %}
