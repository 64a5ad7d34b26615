# A solenoid turned on and left on: rigctl's valve interlock (max_open_s) must cut it.
from pyControl.utility import *
import hardware_definition as hw

states = ['hold', 'short', 'end']
events = []
initial_state = 'hold'


def hold(event):
    if event == 'entry':
        hw.left_poke.SOL.on()                 # never turned off in time by the task
        timed_goto_state('short', 2 * second)


def short(event):
    if event == 'entry':
        hw.left_poke.SOL.off()
        hw.right_poke.SOL.on()
        timed_goto_state('end', 100 * ms)
    elif event == 'exit':
        hw.right_poke.SOL.off()


def end(event):
    if event == 'entry':
        stop_framework()
