"""The held-out accuracy protocol: estimator constants frozen before an evaluation, set on a
development family and scored on another family and on new seeds. See bench/heldout/README.md."""
