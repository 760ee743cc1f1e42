"""Read queries over the mirror, kept beside the models, not in the routes that serve them."""
