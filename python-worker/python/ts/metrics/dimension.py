"""A metric dimension: one name/value pair."""


class Dimension:
    def __init__(self, name, value):
        self.name = name
        self.value = value

    def __str__(self):
        return f"{self.name}:{self.value}"

    def to_dict(self):
        return {"Name": self.name, "Value": self.value}
