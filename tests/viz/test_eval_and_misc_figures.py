from core.viz.eval_metrics import eval_metrics_figure, metric_names
from core.viz.token_bars import token_bars_figure
from core.viz.trace_timeline import TimelineStep, trace_timeline_figure

RESULT = {
    "task": "LaMP_3", "n": 4,
    "methods": {"zero": {"mae": 1.0, "rmse": 1.2, "n": 4}, "rpm": {"mae": 0.5, "rmse": 0.7, "n": 4}},
    "baselines": {"user_mean": {"mae": 0.8, "rmse": 0.9}, "knn_bm25": {"mae": 0.6}},
}


def test_eval_metric_bars_methods_and_baselines():
    fig = eval_metrics_figure(RESULT, "rmse")
    data = fig.to_dict()["data"]
    assert [t["name"] for t in data] == ["Methods", "Baselines"]
    assert list(data[0]["x"]) == ["zero", "rpm"] and list(data[0]["y"]) == [1.2, 0.7]
    assert list(data[1]["x"]) == ["user_mean"]  # knn_bm25 has no rmse
    assert "lower is better" in fig.layout.title.text


def test_metric_names_skip_counts_only_numbers():
    assert metric_names(RESULT) == ["mae", "rmse", "n"]
    assert metric_names({"methods": {"m": {"accuracy": 0.5, "ok": True, "name": "x"}}}) == ["accuracy"]


def test_trace_timeline_lays_steps_end_to_end_and_fades_future():
    steps = [TimelineStep("Extract", "features", 10.0), TimelineStep("Retrieve", "retrieve", 30.0),
             TimelineStep("Answer", "llm", 60.0, 200, 3)]
    data = trace_timeline_figure(steps, cursor=1).to_dict()["data"]
    assert [t["name"] for t in data] == ["features", "retrieve", "llm"]
    assert [t["base"][0] for t in data] == [0.0, 10.0, 40.0]
    assert data[2]["marker"]["opacity"] == [0.25]
    assert data[1]["marker"]["opacity"] == [1.0]
    assert "200→3 tok" in data[2]["text"][0]


def test_token_bars():
    data = token_bars_figure({"summary": 120, "raw history": 4800}).to_dict()["data"]
    assert list(data[0]["x"]) == ["summary", "raw history"]
    assert list(data[0]["y"]) == [120.0, 4800.0]
