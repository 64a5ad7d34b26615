import pyControl.utility as pc

states = ['a']
events = []
initial_state = 'a'


def a(event):
    if event == 'entry':
        pc.set_timer('t', 10)
        pc.sound_alarm()
