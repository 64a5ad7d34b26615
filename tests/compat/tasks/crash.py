# A task that raises while a valve is open: the session must end with the valve closed.
from pyControl.utility import *
import hardware_definition as hw

states = ['open_valve']
events = ['boom']
initial_state = 'open_valve'
v.divisor = 0


def open_valve(event):
    if event == 'entry':
        hw.left_poke.SOL.on()
        set_timer('boom', 100 * ms)
    elif event == 'boom':
        print(1 / v.divisor)
