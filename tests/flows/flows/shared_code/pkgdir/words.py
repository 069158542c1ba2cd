BRACKETS = "[]"
