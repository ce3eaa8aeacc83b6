"""Which training images a trial sees: few-shot samples and easy/hard difficulty rankings."""
