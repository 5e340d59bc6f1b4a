"""Text-emotion heads: English text in, 8 basic-emotion probabilities out (BASIC order).

Used by the text expert on transcripts and by the scene expert on the paragraphs a
vision-language model writes. Two heads:
- `classifier`: a fine-tuned sequence classifier (j-hartmann/emotion-english-distilroberta-base
  in the default profile) whose own labels are mapped onto BASIC;
- `zero_shot`: a sentence embedder (all-MiniLM-L6-v2, packaged on PyPI, for the offline
  profile) comparing the text with example sentences of each emotion, calibrated on a
  balanced set of held-out reference sentences. No packaged emotion classifier exists.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cer.modalities.base import to_basic_order
from cer.pipeline.labels import BASIC, basic_index_map

HEADS = ("classifier", "zero_shot")

# Labels of j-hartmann/emotion-english-distilroberta-base (its config.id2label, in index order).
# Through `to_basic`: anger->Anger, disgust->Disgust, fear->Fear, joy->Happiness,
# neutral->Neutral, sadness->Sadness, surprise->Surprise; Other stays 0.
DEFAULT_CLASSIFIER_LABELS = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")

# Example sentences per basic emotion for the zero-shot head (our own wording). First-person,
# spoken-style sentences, because the texts scored are mostly transcripts of speech. Other
# has no describable content and gets probability 0, like a 7-class classifier.
EXEMPLARS: dict[str, tuple[str, ...]] = {
    "Neutral": (
        "The meeting starts at ten in the morning.",
        "Please put the folder on the desk.",
        "I took the bus to work today.",
        "We need to buy milk and bread.",
        "The report has three sections.",
        "Let me check the schedule and get back to you.",
    ),
    "Anger": (
        "I am so angry right now!",
        "This is outrageous, I am furious with you.",
        "Stop it, you are making me mad!",
        "I hate this, it drives me crazy with rage.",
        "How dare you do that to me?",
        "Shut up and get out, I've had enough of you!",
    ),
    "Disgust": (
        "That is disgusting, it makes me sick.",
        "Ugh, gross, I can't stand the smell.",
        "What a revolting, nasty thing to do.",
        "Yuck, that food is rotten.",
        "I find that behaviour repulsive and vile.",
    ),
    "Fear": (
        "I am scared, please help me.",
        "I'm terrified something bad will happen.",
        "Someone is following me and I'm afraid.",
        "My heart is pounding, I'm so frightened.",
        "I'm worried and anxious, what if they find us?",
    ),
    "Happiness": (
        "I am so happy today!",
        "This is wonderful news, I love it.",
        "We won, this is fantastic!",
        "I'm delighted and grateful, what a great day.",
        "Haha, that's so funny, I'm enjoying this so much.",
    ),
    "Sadness": (
        "I feel so sad and lonely.",
        "I miss her so much, I can't stop crying.",
        "Everything is hopeless and I'm heartbroken.",
        "It hurts so much that he is gone.",
        "I'm disappointed and miserable.",
    ),
    "Surprise": (
        "Wow, I did not expect that at all!",
        "Really? No way, that's unbelievable!",
        "Oh my god, what a surprise!",
        "I can't believe it, I'm shocked.",
        "Whoa, where did that come from?",
    ),
}

# Held-out sentences, the same number per emotion, used only to calibrate: each class's mean
# similarity over them is its bias (some exemplar sets sit closer to every sentence than
# others). Because the set is balanced, subtracting it favours no class a priori, while a
# neutral sentence still scores above Neutral's bias, so Neutral can win (subtracting a mean
# over neutral sentences only would pull every class to zero on neutral text).
CALIBRATION: dict[str, tuple[str, ...]] = {
    "Neutral": (
        "The train leaves from platform four.",
        "I will send you the file this afternoon.",
        "The store closes at six on weekdays.",
    ),
    "Anger": (
        "You ruined everything, I'm livid!",
        "I'm sick of your lies, this makes me furious.",
        "Don't you ever talk to me like that again!",
    ),
    "Disgust": (
        "That smell is nauseating.",
        "Eww, there's mould all over the bread.",
        "His comments were sleazy and gross.",
    ),
    "Fear": (
        "Please don't hurt me.",
        "I'm afraid of the dark and that noise scares me.",
        "I'm panicking, I think we're in danger.",
    ),
    "Happiness": (
        "I'm thrilled, this is the best day ever!",
        "Thank you so much, I'm overjoyed.",
        "What a lovely party, I'm so glad.",
    ),
    "Sadness": (
        "I lost my job and I feel awful.",
        "We said goodbye and I cried all night.",
        "I'm so lonely since my dog died.",
    ),
    "Surprise": (
        "What? That's impossible!",
        "I never saw that coming!",
        "You're here? I had no idea!",
    ),
}

_BATCH = 32  # texts per forward pass
_EMBED_MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained on at most 256 word pieces


def _encoded_batches(tokenizer: Any, texts: Sequence[str], device: str, max_length: int | None = None) -> Iterator[Any]:
    """Tokenised, padded batches on the device; `max_length` None means the tokenizer's own limit."""
    for first in range(0, len(texts), _BATCH):
        batch = list(texts[first : first + _BATCH])
        yield tokenizer(batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt").to(device)


class TextEmotionHead(ABC):
    """Scores texts with 8 basic-emotion probabilities."""

    @abstractmethod
    def score(self, texts: Sequence[str]) -> np.ndarray:
        """An [n, 8] array in BASIC order; each row sums to 1."""


class ClassifierHead(TextEmotionHead):
    """A transformers sequence classifier whose labels map onto BASIC."""

    def __init__(self, path: Path, device: str) -> None:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModelForSequenceClassification.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"could not load the text-emotion classifier from {path}: {exc}") from exc
        config = self.model.config
        # raises, naming the label, when the model has a class BASIC cannot hold
        self.index_map = basic_index_map(config.id2label[i] for i in range(config.num_labels))
        self.model.to(device).eval()
        self.device = device

    def score(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        if not texts:
            return np.zeros((0, len(BASIC)))
        batches = []
        for encoded in _encoded_batches(self.tokenizer, texts, self.device):
            with torch.no_grad():
                logits = self.model(**encoded).logits
            batches.append(logits.softmax(dim=-1).float().cpu().numpy())
        return to_basic_order(np.concatenate(batches), self.index_map)


class ZeroShotHead(TextEmotionHead):
    """Sentence-embedding similarity to emotion exemplars, calibrated, then a softmax.

    score_c(x) = mean cosine between x and the exemplars of class c, minus that class's
    mean score over the calibration sentences; probabilities = softmax(score / temperature).
    The temperature is in cosine units: 0.05 turns a 0.1 lead into odds of e^2.
    """

    def __init__(self, path: Path, device: str, temperature: float = 0.05) -> None:
        from transformers import AutoModel, AutoTokenizer

        if temperature <= 0:
            raise ValueError(f"the zero-shot temperature must be positive, got {temperature}")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            self.model = AutoModel.from_pretrained(str(path), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise RuntimeError(f"could not load the sentence embedder from {path}: {exc}") from exc
        self.model.to(device).eval()
        self.device = device
        self.temperature = temperature
        self.classes = [BASIC.index(name) for name in EXEMPLARS]
        self._exemplars = [self.embed(sentences) for sentences in EXEMPLARS.values()]
        calibration = [sentence for sentences in CALIBRATION.values() for sentence in sentences]
        self._bias = self._similarities(self.embed(calibration)).mean(axis=0)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised mean-pooled token embeddings (the sentence-transformers recipe for this model)."""
        import torch

        batches = []
        for encoded in _encoded_batches(self.tokenizer, texts, self.device, _EMBED_MAX_TOKENS):
            with torch.no_grad():
                tokens = self.model(**encoded).last_hidden_state
            mask = encoded["attention_mask"].unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            batches.append(torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy())
        return np.concatenate(batches)

    def _similarities(self, embeddings: np.ndarray) -> np.ndarray:
        return np.stack([(embeddings @ exemplars.T).mean(axis=1) for exemplars in self._exemplars], axis=1)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(BASIC)))
        logits = (self._similarities(self.embed(texts)) - self._bias) / self.temperature
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=1, keepdims=True)
        out = np.zeros((len(texts), len(BASIC)))
        out[:, self.classes] = probs
        return out


def load_text_emotion_head(kind: str, path: Path, device: str, temperature: float = 0.05) -> TextEmotionHead:
    """Build a head on a resolved model path. `temperature` applies to `zero_shot`."""
    if kind == "classifier":
        return ClassifierHead(path, device)
    if kind == "zero_shot":
        return ZeroShotHead(path, device, temperature)
    raise ValueError(f"unknown text-emotion head {kind!r}; choose one of {', '.join(HEADS)}")


def build_tiny_text_emotion(target_dir: Path) -> None:
    """A random-weight RobertaForSequenceClassification (the default classifier's class) with
    the default model's 7 labels and a byte-level BPE tokenizer trained here on the exemplar
    sentences, saved with `save_pretrained` so `ClassifierHead` loads it unchanged."""
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import RobertaConfig, RobertaForSequenceClassification, RobertaTokenizer

    max_tokens = 128
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    bpe = ByteLevelBPETokenizer()
    corpus = [s for group in (EXEMPLARS, CALIBRATION) for sentences in group.values() for s in sentences]
    bpe.train_from_iterator(corpus, vocab_size=400, min_frequency=1, special_tokens=specials, show_progress=False)
    bpe.save_model(str(target_dir))  # vocab.json + merges.txt, the files RoBERTa's tokenizer reads
    tokenizer = RobertaTokenizer(vocab=str(target_dir / "vocab.json"), merges=str(target_dir / "merges.txt"), model_max_length=max_tokens)
    tokenizer.save_pretrained(str(target_dir))

    config = RobertaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_tokens + 2,  # RoBERTa numbers positions from pad_token_id + 1
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        id2label=dict(enumerate(DEFAULT_CLASSIFIER_LABELS)),
        label2id={label: i for i, label in enumerate(DEFAULT_CLASSIFIER_LABELS)},
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = RobertaForSequenceClassification(config)
    model.save_pretrained(str(target_dir))
