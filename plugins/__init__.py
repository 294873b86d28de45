"""Built-in model plugins: the Fashion-MNIST models of the Keras course."""

# Listing order of the built-in modules (the course's order); others follow alphabetically.
ORDER = ("dense", "regularization", "keras_apis", "cnn")
