import os

from promptflow.core import tool


@tool
def read_env() -> str:
    return os.environ["EMBER_TEST_FLOW_TOKEN"] + "," + os.environ["EMBER_TEST_FLOW_PLAIN"]
