{#
    Phone numbers to E.164 ("+" country code and national significant number, at most 15 digits).

    Accepted inputs (spaces, dashes, dots, slashes and parentheses are ignored):
      +49 151 2345678      international with "+"
      +49 (0)151 2345678   international with the national trunk digit in parentheses (dropped)
      00491512345678       international with the "00" exit code
      0151-2345678         national with trunk prefix "0": the prefix is replaced by the country code
      (030) 1234567        national, area code in parentheses
      212-555-0100         national without trunk prefix (US, IT, ES...): the country code is prepended
    The country is the record's own country column, else the project var `default_phone_country`.

    Usage, in two steps so the country lookup runs once per row: a CTE selects
    `*, {{ phone_parts('phone', 'country') }}`, the next one `{{ phone_to_e164() }} as phone_e164`.

    Limits (documented in DECISIONLOG.md): the result is not checked against numbering plans (a wrong
    number of digits for the country passes if the total stays within 8..15 digits); exit codes other than
    "00" (e.g. "011" from the US) are read as national numbers; extensions ("x123") are appended as digits;
    countries missing from the table below give null unless the number is written internationally.
#}

{#
    ISO 3166-1 alpha-2 -> (calling code, national trunk prefix). Trunk prefix "" means national numbers
    are dialled without one and are kept whole (Italy keeps its leading 0: +39 06...). From the ITU-T E.164
    assignments list and national numbering plans; countries sharing the North American Numbering Plan
    use trunk prefix "1".
#}
{% macro phone_country_codes() -%}
    {{ return({
        'AD': ('376', ''), 'AE': ('971', '0'), 'AF': ('93', '0'), 'AL': ('355', '0'), 'AM': ('374', '0'),
        'AR': ('54', '0'), 'AT': ('43', '0'), 'AU': ('61', '0'), 'AZ': ('994', '0'), 'BA': ('387', '0'),
        'BD': ('880', '0'), 'BE': ('32', '0'), 'BG': ('359', '0'), 'BH': ('973', ''), 'BO': ('591', '0'),
        'BR': ('55', '0'), 'BY': ('375', '8'), 'CA': ('1', '1'), 'CH': ('41', '0'), 'CI': ('225', ''),
        'CL': ('56', ''), 'CM': ('237', ''), 'CN': ('86', '0'), 'CO': ('57', ''), 'CR': ('506', ''),
        'CU': ('53', '0'), 'CY': ('357', ''), 'CZ': ('420', ''), 'DE': ('49', '0'), 'DK': ('45', ''),
        'DO': ('1', '1'), 'DZ': ('213', '0'), 'EC': ('593', '0'), 'EE': ('372', ''), 'EG': ('20', '0'),
        'ES': ('34', ''), 'ET': ('251', '0'), 'FI': ('358', '0'), 'FR': ('33', '0'), 'GB': ('44', '0'),
        'GE': ('995', '0'), 'GG': ('44', '0'), 'GH': ('233', '0'), 'GI': ('350', ''), 'GR': ('30', ''),
        'GT': ('502', ''), 'HK': ('852', ''), 'HN': ('504', ''), 'HR': ('385', '0'), 'HU': ('36', '06'),
        'ID': ('62', '0'), 'IE': ('353', '0'), 'IL': ('972', '0'), 'IM': ('44', '0'), 'IN': ('91', '0'),
        'IQ': ('964', '0'), 'IR': ('98', '0'), 'IS': ('354', ''), 'IT': ('39', ''), 'JE': ('44', '0'),
        'JM': ('1', '1'), 'JO': ('962', '0'), 'JP': ('81', '0'), 'KE': ('254', '0'), 'KH': ('855', '0'),
        'KR': ('82', '0'), 'KW': ('965', ''), 'KZ': ('7', '8'), 'LB': ('961', '0'), 'LI': ('423', ''),
        'LK': ('94', '0'), 'LT': ('370', '0'), 'LU': ('352', ''), 'LV': ('371', ''), 'MA': ('212', '0'),
        'MC': ('377', ''), 'MD': ('373', '0'), 'ME': ('382', '0'), 'MK': ('389', '0'), 'MT': ('356', ''),
        'MX': ('52', ''), 'MY': ('60', '0'), 'NG': ('234', '0'), 'NL': ('31', '0'), 'NO': ('47', ''),
        'NP': ('977', '0'), 'NZ': ('64', '0'), 'OM': ('968', ''), 'PA': ('507', ''), 'PE': ('51', '0'),
        'PH': ('63', '0'), 'PK': ('92', '0'), 'PL': ('48', ''), 'PR': ('1', '1'), 'PT': ('351', ''),
        'PY': ('595', '0'), 'QA': ('974', ''), 'RO': ('40', '0'), 'RS': ('381', '0'), 'RU': ('7', '8'),
        'SA': ('966', '0'), 'SE': ('46', '0'), 'SG': ('65', ''), 'SI': ('386', '0'), 'SK': ('421', '0'),
        'SM': ('378', ''), 'SN': ('221', ''), 'SV': ('503', ''), 'TH': ('66', '0'), 'TN': ('216', ''),
        'TR': ('90', '0'), 'TT': ('1', '1'), 'TW': ('886', '0'), 'TZ': ('255', '0'), 'UA': ('380', '0'),
        'UG': ('256', '0'), 'US': ('1', '1'), 'UY': ('598', '0'), 'UZ': ('998', ''), 'VA': ('39', ''),
        'VE': ('58', '0'), 'VN': ('84', '0'), 'ZA': ('27', '0')
    }) }}
{%- endmacro %}

{#
    The columns a model needs before it can build an E.164 number, computed once per row in a CTE:
    phone_digits (the digits of the number, with a "(0)" trunk digit removed from international numbers),
    phone_is_international ("+" or "00" in front), phone_calling_code and phone_trunk_prefix of the
    record's country (else `default_phone_country`).
#}
{% macro phone_parts(phone, country) -%}
    {%- set codes = phone_country_codes() -%}
    {%- set text -%}trim({{ phone }}){%- endset -%}
    {%- set international -%}({{ text }} like '+%' or {{ text }} like '00%'){%- endset -%}
    regexp_replace(
        case when {{ international }} then replace({{ text }}, '(0)', '') else {{ text }} end,
        '[^0-9]', '', 'g'
    ) as phone_digits,
    {{ text }} like '+%' as phone_has_plus,
    {%- for part, name in [(0, 'phone_calling_code'), (1, 'phone_trunk_prefix')] %}
    case coalesce({{ country }}, '{{ var("default_phone_country") }}')
        {%- for iso, spec in codes.items() %}
        when '{{ iso }}' then '{{ spec[part] }}'
        {%- endfor %}
    end as {{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{# E.164 from the columns of phone_parts. #}
{% macro phone_to_e164(digits='phone_digits', has_plus='phone_has_plus', calling_code='phone_calling_code',
                       trunk='phone_trunk_prefix') -%}
    {%- set candidate -%}
        case
            when {{ has_plus }} then {{ digits }}
            when {{ digits }} like '00%' then substr({{ digits }}, 3)
            when {{ calling_code }} is null then null
            when {{ trunk }} <> '' and {{ digits }} like {{ trunk }} || '%'
                then {{ calling_code }} || substr({{ digits }}, length({{ trunk }}) + 1)
            else {{ calling_code }} || {{ digits }}
        end
    {%- endset -%}
    {#- E.164 allows at most 15 digits; fewer than 8 cannot be a country code plus a subscriber number. #}
    case
        when {{ digits }} is null or {{ digits }} = '' then null
        when length({{ candidate }}) between 8 and 15 then '+' || {{ candidate }}
    end
{%- endmacro %}
