"""Reports people look at: the run's HTML report (`--deeplab-report`) and version trends
(`pytest-deeplab report DIR`).

    collect.py   plain records of what each item saw (made only when a report is asked for)
    panels.py    the pictures: input, masks in label-set colours, the diff overlay, as PNG
    cards.py     the model-card section (measured cards, or the catalogue's published facts)
    html.py      the run report, rendered with Jinja2 templates (templates/*.html.j2)
    trends.py    saved benchmark runs and gate results per model per TF version, with plots

Nothing here is imported unless a report is asked for.
"""
