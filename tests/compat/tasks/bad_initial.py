from pyControl.utility import *

states = ['a', 'b']
events = []
initial_state = 'c'


def a(event):
    pass


def b(event):
    pass
