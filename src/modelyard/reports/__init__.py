"""Human-readable reports built from recorded results (no IO: callers write the text)."""

from modelyard.reports.model_card import (
    CardDataset,
    CardModel,
    CardTrialRun,
    ModelCard,
    build_card,
    card_limitations,
    render_model_card,
)

__all__ = [
    "CardDataset",
    "CardModel",
    "CardTrialRun",
    "ModelCard",
    "build_card",
    "card_limitations",
    "render_model_card",
]
