# Timer semantics, with named imports: set_timer outlives the state that set it,
# timed_goto_state is cancelled by leaving the state, disarm/reset/pause/unpause,
# timer_remaining, publish_event, get_current_time, output_event and stop_framework.
import pyControl.utility as pc
import devices as dv

states = ['first', 'second', 'third', 'done']
events = ['early_timer', 'disarmed_timer', 'reset_timer_ev', 'paused_timer', 'tick',
          'marker']
initial_state = 'first'

marker_led = dv.Digital_output('B4')     # unbound under the default binding: virtual

pc.v.remaining_paused = -1
pc.v.remaining_none = -1
pc.v.remaining_running = -1


def first(event):
    if event == 'entry':
        pc.set_timer('early_timer', 300 * pc.ms, output_event=True)
        pc.set_timer('disarmed_timer', 200 * pc.ms, output_event=True)
        pc.timed_goto_state('done', 150 * pc.ms)   # cancelled: the state is left at 100 ms
        pc.set_timer('tick', 100 * pc.ms, output_event=False)   # not written
    elif event == 'tick':
        pc.goto_state('second')


def second(event):
    if event == 'entry':
        pc.disarm_timer('disarmed_timer')
        pc.set_timer('reset_timer_ev', 100 * pc.ms, output_event=True)
        pc.reset_timer('reset_timer_ev', 450 * pc.ms, output_event=True)   # due at 550 ms
        pc.set_timer('paused_timer', 200 * pc.ms, output_event=True)
        pc.pause_timer('paused_timer')                # 200 ms left, frozen
        pc.v.remaining_paused = pc.timer_remaining('paused_timer')
    elif event == 'early_timer':
        print('early_timer in second at', pc.get_current_time())
        pc.unpause_timer('paused_timer')              # due at 300 + 200 = 500 ms
        pc.v.remaining_running = pc.timer_remaining('reset_timer_ev')
    elif event == 'paused_timer':
        print('paused_timer at', pc.get_current_time())
        pc.publish_event('marker')
    elif event == 'marker':
        print('marker at', pc.get_current_time())
        marker_led.toggle()
    elif event == 'reset_timer_ev':
        pc.goto_state('third')


def third(event):
    if event == 'entry':
        pc.v.remaining_none = pc.timer_remaining('no_such_timer')
        pc.timed_goto_state('done', 1 * pc.second)


def done(event):
    if event == 'entry':
        pc.print_variables(['remaining_paused', 'remaining_none', 'remaining_running'])
        pc.stop_framework()
