"""Cloud speech engines behind `activities.tts.TtsEngine`: Amazon Polly and Google Cloud Text-to-Speech."""
