from pyControl.utility import *

states = ['a']
events = []
initial_state = 'a'


def a(event):
    if event == 'entry':
        play_tone(5000)
