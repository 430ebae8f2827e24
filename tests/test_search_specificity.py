"""The problem-specific rewrite check of GEPA reflection (``agentforge.search.specificity``), on
rewrites the 0.5B and 1.5B meta models wrote in our runs."""

from __future__ import annotations

import pytest

from agentforge.search.specificity import same_instruction, specific_copy

HUMANEVAL_1 = '''from typing import List


def separate_paren_groups(paren_string: str) -> List[str]:
    """ Input to this function is a string containing multiple groups of nested parentheses. Your goal is to
    separate those group into separate strings and return the list of those.
    Separate groups are balanced (each open brace is properly closed) and not nested within each other
    Ignore any spaces in the input string.
    """
'''
HUMANEVAL_12 = '''def longest(strings: List[str]) -> Optional[str]:
    """ Out of list of strings, return the longest one. Return the first one in case of multiple
    strings of the same length. Return None in case the input list is empty.
    """
'''
GSM8K = ("Tobias is buying a new pair of shoes that costs $95. He has been saving up his money each month "
         "for the past three months. He gets a $5 allowance a month.")
CHEDDAR = ("Jasper will serve charcuterie at his dinner party. He buys 2 pounds of cheddar cheese for $10, a pound "
           "of cream cheese that cost half the price of the cheddar cheese, and a pack of cold cuts that cost twice "
           "the price of the cheddar cheese. What is the total cost of the ingredients?")
DEFAULT = "You are an expert Python programmer. You write short, correct, plain Python (standard library only)."


@pytest.mark.parametrize("instruction, piece", [
    ("The input to this function is a string containing multiple groups of nested parentheses. Count depth.",
     'run "input to this function is a string containing"'),
    ("When implementing the solution, make sure to properly initialize the `longest_string` variable as `None`.",
     'identifier "longest_string"'),
    ("Tobias needs to save up his money each month.", 'name "Tobias"'),
    # what GEPA with the 0.5B proposing returned as its best instruction (gepa-sc5-meta0.5b)
    ("The model should check the cost of the cheddar cheese and the cold cuts, and then calculate the total "
     "cost of the ingredients.", 'phrases "cheddar cheese", "cold cuts"'),
])
def test_rewrites_about_one_problem_are_caught(instruction, piece):
    assert specific_copy(instruction, [HUMANEVAL_1, HUMANEVAL_12, GSM8K, CHEDDAR], allowed=DEFAULT) == piece


@pytest.mark.parametrize("instruction", [
    DEFAULT + " Read the docstring examples and handle the case where the input list is empty.",
    "When a problem involves money each month, multiply the monthly amount by the number of months. "
    "Always check the units; write the final answer as a number.",
    "Use `collections.Counter` for counting, return None when the input is empty, and test edge cases.",
    "Think step by step. Input to this function is a string.",  # a run of 7 words only
    "Add up every price to get the total cost, then check it against the question.",  # one shared phrase
])
def test_general_advice_passes(instruction):
    assert specific_copy(instruction, [HUMANEVAL_1, HUMANEVAL_12, GSM8K, CHEDDAR], allowed=DEFAULT) is None


def test_copying_from_the_allowed_text_is_not_specific():
    problem = "Write separate_paren_groups for the Input to this function is a string containing many groups."
    ins = "Input to this function is a string containing many groups; see separate_paren_groups."
    assert specific_copy(ins, [problem]) is not None
    assert specific_copy(ins, [problem], allowed=ins) is None
    with pytest.raises(ValueError, match="min_run"):
        specific_copy(ins, [problem], min_run=1)


def test_a_rewrite_that_only_re_punctuates_or_tags_the_instruction_is_the_same():
    assert same_instruction(f"<instruction>{DEFAULT}</instruction>", DEFAULT)
    assert same_instruction(DEFAULT.rstrip(".").upper(), DEFAULT)
    assert not same_instruction(DEFAULT + " Check the units.", DEFAULT)
