# A task whose handler fails after the session has run for a while (a bug found only at run
# time): the session ends aborted, the error names this file and line, and rigctl exits 1.
from pyControl.utility import *

states = ['waiting']
events = ['tick']
initial_state = 'waiting'
v.n_ticks = 0


def waiting(event):
    if event == 'entry':
        set_timer('tick', 1 * second)
    elif event == 'tick':
        v.n_ticks += 1
        if v.n_ticks == 3:
            v.n_ticks = v.n_ticks / 0
        set_timer('tick', 1 * second)
