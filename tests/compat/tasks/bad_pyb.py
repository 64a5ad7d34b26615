from pyControl.utility import *
import pyb

states = ['a']
events = []
initial_state = 'a'


def a(event):
    pyb.LED(1).on()
