"""File-format loaders, one module per format, sharing row extraction and checks.

* :mod:`.csv_format` - CSV/TSV, one item per row.
* :mod:`.jsonl_format` - JSON Lines, one item per line.
* :mod:`.json_format` - JSON ``{user_id: [items]}`` or a list of records.
* :mod:`.lamp_format` - LaMP ``*_questions.json`` + ``*_outputs.json``.

Each parser turns its file(s) into a :class:`~core.data.loaders.base.Parsed` (candidate items and
queries, not yet checked against the task); :mod:`core.data.load` picks the task and
:mod:`.checks` validates and assembles users. Use :func:`core.data.load.load` as the front door.
"""
