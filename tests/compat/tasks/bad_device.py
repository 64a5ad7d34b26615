from pyControl.utility import *
from devices import *

motor = Stepper_motor(port=Breakout_1_2().port_1)
states = ['a']
events = []
initial_state = 'a'


def a(event):
    pass
