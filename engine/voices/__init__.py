"""Cloud speech engines behind `engine.tts.TtsEngine`: Amazon Polly and Google Cloud Text-to-Speech."""
