# The rows a pyControl board writes for one short run: a timer with the default output_event,
# an input and its release, a state entered by goto (pyControl 1.x's name), print_variables,
# warning, a hidden variable and an object variable (both left out of variable rows), pyb.LED.
from pyControl.utility import *
from pyb import LED
import hardware_definition as hw

board_led = LED(4)

states = ['idle', 'active']
events = ['left_poke', 'left_poke_out', 'tick']
initial_state = 'idle'

v.n = 0
v.counter___ = 0
v.mov = exp_mov_ave(tau=4, init_value=0)


def run_start():
    set_timer('tick', 100 * ms)


def idle(event):
    if event == 'left_poke':
        goto('active')
    elif event == 'tick':
        board_led.toggle()


def active(event):
    if event == 'entry':
        v.n += 1
        print_variables(['n', 'mov'])
        warning('entered active')
        timed_goto_state('idle', 200 * ms)
