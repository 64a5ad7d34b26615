# States, events, entry/exit, goto_state, timed_goto_state, v. variables and print.
from pyControl.utility import *
import hardware_definition as hw

states = ['wait_poke', 'light_on', 'reward']
events = ['left_poke', 'left_poke_out', 'right_poke']
initial_state = 'wait_poke'

v.pokes = 0
v.rewards = 0
v.counter___ = 0          # hidden variable

def run_start():
    hw.house_light.on()

def run_end():
    hw.off()
    print('run_end pokes={}'.format(v.pokes))

def wait_poke(event):
    if event == 'left_poke':
        v.pokes += 1
        v.counter___ += 1
        print('poke {}'.format(v.pokes))
        if v.pokes % 2 == 0:
            goto_state('light_on')

def light_on(event):
    if event == 'entry':
        hw.left_poke.LED.on()
        timed_goto_state('wait_poke', 500 * ms)
    elif event == 'exit':
        hw.left_poke.LED.off()
    elif event == 'right_poke':
        goto_state('reward')

def reward(event):
    if event == 'entry':
        v.rewards += 1
        hw.right_poke.SOL.on()
        timed_goto_state('wait_poke', 100 * ms)
    elif event == 'exit':
        hw.right_poke.SOL.off()
        print_variables()
