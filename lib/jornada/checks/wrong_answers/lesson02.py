"""Lesson 02's planted wrong answers (see jornada.checks.wrong_answers)."""

# compares with the previous order's device instead of the habitual one
PREVIOUS_ORDER_RULE = '''
    chrono = orders.sort_values(["id_pessoa", "dt_venda"])
    previous = chrono.groupby("id_pessoa")["dispositivo"].shift()
    return (previous.notna() & (chrono["dispositivo"] != previous)).reindex(orders.index)
'''

CASES = [
    {"name": "device-rule-against-the-previous-order",
     "plant": {"device_changed": PREVIOUS_ORDER_RULE},
     "expect": {"task_device_rule": ["you compared with the previous order"]}},
]
