# A running-wheel task (pyControl style, written for rigctl's tests): the wheel's speed
# crossing 10 cm/s upward is 'running', downward 'stopped'. The Rotary_encoder binds by its
# name to the rig's analog input `wheel`.
from pyControl.utility import *
from devices import *

wheel = Rotary_encoder('wheel', sampling_rate=100, threshold=10, rising_event='running',
                       falling_event='stopped')

states = ['still', 'moving']
events = ['running', 'stopped']
initial_state = 'still'

v.bouts = 0


def still(event):
    if event == 'running':
        v.bouts += 1
        goto_state('moving')


def moving(event):
    if event == 'entry':
        print('speed', wheel.velocity)
    elif event == 'stopped':
        goto_state('still')
