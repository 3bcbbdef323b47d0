from app.llm.base import ChatModel, ModelNotConfigured, ModelReply, ModelUnavailable

__all__ = ["ChatModel", "ModelNotConfigured", "ModelReply", "ModelUnavailable", "build_model"]


def build_model(settings) -> ChatModel:
    if settings.llm_provider == "anthropic":
        from app.llm.anthropic_model import AnthropicModel

        return AnthropicModel(settings)
    if settings.llm_provider == "openai":
        from app.llm.openai_compat import OpenAICompatModel

        return OpenAICompatModel(settings)
    from app.llm.ollama_model import OllamaModel

    return OllamaModel(settings)
