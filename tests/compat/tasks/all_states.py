# all_states precedence with devices defined inline (from devices import *), bound by pin.
from pyControl.utility import *
from devices import *

button = Digital_input('X1', rising_event='button', falling_event='button_release')
lever = Digital_input('X2', rising_event='lever')
led = Digital_output('B4')

states = ['idle', 'active']
events = ['button', 'button_release', 'lever', 'session_timer']
initial_state = 'idle'

v.all_states_calls = 0
v.blocked = 0
v.state_saw_lever = 0
v.button_level_in_active = None


def run_start():
    set_timer('session_timer', 5 * second)


def all_states(event):
    v.all_states_calls += 1
    if event == 'session_timer':
        stop_framework()
        return True
    if event == 'lever':
        v.blocked += 1
        return True          # the current state's function never sees 'lever'


def idle(event):
    if event == 'button':
        goto_state('active')
    elif event == 'lever':
        v.state_saw_lever += 1


def active(event):
    if event == 'entry':
        led.on()
        v.button_level_in_active = button.value()
    elif event == 'exit':
        led.off()
    elif event == 'lever':
        v.state_saw_lever += 1
    elif event == 'button_release':
        goto_state('idle')
