"""rmx-widgets: contrastive explanations for language reward models."""
