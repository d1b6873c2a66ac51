"""Evaluation: LaMP metrics, no-model baselines and the method-comparison harness."""
