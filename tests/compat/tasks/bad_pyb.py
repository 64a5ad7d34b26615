from pyControl.utility import *
from pyb import Pin

states = ['a']
events = []
initial_state = 'a'


def a(event):
    Pin('X1').value(1)
