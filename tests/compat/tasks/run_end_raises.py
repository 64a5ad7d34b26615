# stop_framework from a state; run_end then raises: one error naming run_end's line.
from pyControl.utility import *

states = ['a']
events = ['stop_timer']
initial_state = 'a'


def run_end():
    v.missing_variable + 1


def a(event):
    if event == 'entry':
        set_timer('stop_timer', 10 * ms)
    elif event == 'stop_timer':
        stop_framework()
