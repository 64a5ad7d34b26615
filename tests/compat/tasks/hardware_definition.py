# A pyControl-style hardware definition written for rigctl's tests (not from pyControl).
from devices import *

board = Breakout_1_2()
left_poke = Poke(board.port_1, rising_event='left_poke', falling_event='left_poke_out')
right_poke = Poke(board.port_2, rising_event='right_poke', falling_event='right_poke_out')
house_light = Digital_output(board.port_3.POW_A)
