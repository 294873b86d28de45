"""Built-in model plugins: 13 Fashion-MNIST classifiers (dense, regularized, API variants, CNNs)
and the zoo (other inputs and tasks, on synthetic data; not in the default run)."""

# Listing order of the built-in modules (simplest first); others follow alphabetically.
ORDER = ("dense", "regularization", "keras_apis", "cnn")
