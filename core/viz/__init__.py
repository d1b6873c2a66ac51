"""Plotly figure builders for the workbench: one builder per module, plain data in, ``go.Figure`` out.

Builders never touch the workspace or Streamlit, so tests can assert on ``fig.to_dict()["data"]``.
"""

from core.viz.eval_metrics import eval_metrics_figure
from core.viz.factor_map import COLOR_BY, NOISE_COLOR, NOISE_NAME, factor_map_figure
from core.viz.factor_stats import STAT_METRICS, factor_stats_figure
from core.viz.faithfulness import faithfulness_figure
from core.viz.token_bars import token_bars_figure
from core.viz.trace_timeline import trace_timeline_figure

__all__ = [
    "COLOR_BY",
    "NOISE_COLOR",
    "NOISE_NAME",
    "STAT_METRICS",
    "eval_metrics_figure",
    "factor_map_figure",
    "factor_stats_figure",
    "faithfulness_figure",
    "token_bars_figure",
    "trace_timeline_figure",
]
