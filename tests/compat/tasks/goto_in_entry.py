# goto_state in response to 'entry' is an error in pyControl.
from pyControl.utility import *

states = ['a', 'b']
events = []
initial_state = 'a'


def a(event):
    if event == 'entry':
        goto_state('b')


def b(event):
    pass
