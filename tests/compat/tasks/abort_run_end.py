# run_end on every way a run can end early: an error in a handler (v.crash), a stop request
# from outside (Ctrl-C) or an interlock refusing an output (v.stim turns on a laser pin).
# run_end leaves the house light on: the session must still end with every output off.
from pyControl.utility import *
from devices import *
import hardware_definition as hw

laser = Digital_output('BNC_1')

states = ['waiting']
events = ['boom']
initial_state = 'waiting'
v.crash = False
v.stim = False
v.n_boom = 0


def run_start():
    hw.house_light.on()
    set_timer('boom', 200 * ms)


def waiting(event):
    if event == 'boom':
        v.n_boom += 1
        if v.stim:
            laser.on()
        if v.crash:
            print(1 / 0)
        set_timer('boom', 200 * ms)


def run_end():
    hw.house_light.on()
    print('run_end ran at {}'.format(get_current_time()))
