PREFIX = "answer"
