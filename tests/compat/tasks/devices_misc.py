# Lickometer, Rsync, Audio_board, pulsed Digital_output, a laser-driving LED_driver and a
# rotary encoder, defined inline and bound by port/pin in the test's binding.
from pyControl.utility import *
from devices import *

board = Breakout_1_2()
lickometer = Lickometer(board.port_1, rising_event_A='lick', falling_event_A='lick_off',
                        rising_event_B='lick_2', falling_event_B='lick_2_off')
sync = Rsync(board.BNC_2, event_name='rsync', mean_IPI=1000, pulse_dur=10)
speaker = Audio_board(board.port_3)
flasher = Digital_output(board.port_4.POW_A)
stim_led = LED_driver(board.port_5)
wheel = Rotary_encoder('wheel', sampling_rate=100, threshold=10, rising_event='running')

states = ['wait_lick', 'tone', 'stim']
events = ['lick', 'lick_off', 'lick_2', 'running', 'rsync']
initial_state = 'wait_lick'

v.licks_A = 0
v.licks_B = 0


def wait_lick(event):
    if event == 'lick':
        v.licks_A += 1
        goto_state('tone')
    elif event == 'lick_2':
        v.licks_B += 1


def tone(event):
    if event == 'entry':
        speaker.set_volume(60)
        speaker.sine(5000)
        flasher.pulse(10, duty_cycle=50, n_pulses=3)
        timed_goto_state('stim', 1 * second)
    elif event == 'exit':
        speaker.off()


def stim(event):
    if event == 'entry':
        stim_led.on()                        # held on: the laser's max_on_s must cut it
        set_timer('stop', 40 * second)
    elif event == 'stop':
        stop_framework()
